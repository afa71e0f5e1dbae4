# Echo throughput: broker per algorithm and door against zmq_proxy, the direct path, the C
# lbbroker and majortomo (mserve-bench broker --csv bench/results --plot).
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-echo.gp
# A log y axis: the paths differ by more than ten times, and a linear axis shrinks the slow ones
# to slivers. Each bar carries its figure; labels lean left so the last one is not cut off.
if (!exists("results")) results = 'bench/results'
set terminal pngcairo size 900,500 font ",10" noenhanced
if (!exists("plotfile")) plotfile = 'img/bench-echo.png'
set output plotfile
set title "Echo: queries/s by path (higher is better; log scale)"
set ylabel "queries/s"
set logscale y
set format y "%.0f"
set yrange [1000:*]
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by 35 right
set bmargin 8
set grid ytics
set key off
plot results.'/echo-paths.dat' using 2:xtic(1), \
     '' using 0:($2*1.15):(sprintf("%.0f", $2)) with labels font ",8"
