# Mean latency on the warm workload against K, the number of symbols, per dispatch algorithm
# (mserve-bench warm-sweep --csv bench/results --plot).
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-warm-sweep.gp
if (!exists("results")) results = 'bench/results'
set terminal pngcairo size 900,500 font ",10" noenhanced
if (!exists("plotfile")) plotfile = 'img/bench-warm-sweep.png'
set output plotfile
# The run's set-up for the title; mserve-bench --plot passes its own.
if (!exists("setup")) setup = "4 servants, 2 clients × 1 in flight"
set title sprintf("warm workload: mean latency against K symbols (%s; lower is better)", setup)
set xlabel "K (symbols, Zipf s = 1.1)"
set ylabel "mean latency, µs"
set logscale x 2
set key top left
set grid
stats results.'/warm-sweep.dat' skip 1 nooutput
plot for [column=2:STATS_columns] results.'/warm-sweep.dat' using 1:column with linespoints linewidth 2 title columnheader(column)
