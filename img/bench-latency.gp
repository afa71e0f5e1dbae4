# Broker mean latency per dispatch algorithm and workload (mserve-bench broker --csv bench/results --plot).
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-latency.gp
if (!exists("results")) results = 'bench/results'
set terminal pngcairo size 900,500 font ",10" noenhanced
if (!exists("plotfile")) plotfile = 'img/bench-latency.png'
set output plotfile
# The run's set-up for the title; mserve-bench --plot passes its own.
if (!exists("setup")) setup = "2 servants, capacity 1, 4 clients × 16 in flight"
set title sprintf("MServe broker mean latency, µs (%s; lower is better)", setup)
set ylabel "µs"
set logscale y
set format y "%.0f"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top left reverse Left samplen 2
set grid ytics
plot for [column=2:5] results.'/latency-mean.dat' using column:xtic(1) title columnheader(column)
