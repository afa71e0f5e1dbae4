# Echo throughput: broker per algorithm against zmq_proxy, the direct path and majortomo.
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-echo.gp
if (!exists("results")) results = 'bench/results'
set terminal pngcairo size 900,450 font ",10" noenhanced
set output 'img/bench-echo.png'
set title "Echo: queries/s by path (higher is better)"
set ylabel "queries/s"
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by -30
set grid ytics
set key off
plot results.'/echo-paths.dat' using 2:xtic(1)
