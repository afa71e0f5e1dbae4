# Broker p99 latency per dispatch algorithm and workload (mserve-bench broker --csv bench/results --plot).
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-latency-p99.gp
if (!exists("results")) results = 'bench/results'
set terminal pngcairo size 900,500 font ",10" noenhanced
if (!exists("plotfile")) plotfile = 'img/bench-latency-p99.png'
set output plotfile
# The run's set-up for the title; mserve-bench --plot passes its own.
if (!exists("setup")) setup = "2 servants, capacity 1, 4 clients × 16 in flight"
set title sprintf("MServe broker p99 latency, µs (%s; lower is better)", setup)
set ylabel "µs"
# A log axis from 100 µs: the echo bars (a few ms) stand beside the large ones (hundreds of ms).
set logscale y
set format y "%.0f"
set yrange [100:*]
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
# Each swatch before its name, so that no swatch stands between two names.
set key top left horizontal reverse Left samplen 2 width 1
set grid ytics
plot for [column=2:5] results.'/latency-p99.dat' using column:xtic(1) title columnheader(column)
