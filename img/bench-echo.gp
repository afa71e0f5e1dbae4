# Echo throughput: broker per algorithm and door against zmq_proxy, the direct path, the C
# lbbroker and majortomo (mserve-bench broker --csv bench/results --plot).
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-echo.gp
# A log y axis: the paths differ by more than ten times, and a linear axis shrinks the slow ones
# to slivers. Each bar carries its figure, drawn at 1.15 × the bar; the axis ends at the first
# power of ten at least 1.5 × the tallest bar, so that the tallest bar's figure stays inside the
# frame however close to a power of ten the bar comes.
if (!exists("results")) results = 'bench/results'
set terminal pngcairo size 900,500 font ",10" noenhanced
if (!exists("plotfile")) plotfile = 'img/bench-echo.png'
set output plotfile
# The run's set-up for the title; mserve-bench --plot passes its own.
if (!exists("setup")) setup = "2 servants, capacity 1, 4 clients × 16 in flight"
set title sprintf("Echo: queries/s by path (%s; higher is better; log scale)", setup)
set ylabel "queries/s"
set logscale y
set format y "%.0f"
stats results.'/echo-paths.dat' using 2 nooutput
top = STATS_max * 1.5 > 10000 ? 10**ceil(log10(STATS_max * 1.5)) : 10000
# The axis starts at 1000, or lower for a bar under 1000 (a row that failed, at 0, has no bar).
stats results.'/echo-paths.dat' using ($2 > 0 ? $2 : 1e9) nooutput
bottom = STATS_min < 1000 ? 10**floor(log10(STATS_min)) : 1000
set yrange [bottom:top]
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by 35 right
set bmargin 8
set grid ytics
set key off
plot results.'/echo-paths.dat' using 2:xtic(1), \
     '' using 0:($2*1.15):(sprintf("%.0f", $2)) with labels font ",8"
