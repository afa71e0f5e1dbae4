# Resident memory of the broker and its servants over `mserve-bench memory --large`: rounds
# of large messages through ZeroMQ and the kdb+ door, 200 small queries, then idle
# (bench/results/memory-large.csv).
# Run from the package root: gnuplot -e "results='bench/results'" img/bench-memory-large.gp
# draws the committed run into img/bench-memory-large.png; -e "csv='FILE.csv'" draws another
# run's CSV into FILE.png beside it (-e "plotfile='OTHER.png'" to write elsewhere).
if (!exists("plotfile") && exists("csv")) \
    plotfile = (strlen(csv) > 4 && csv[strlen(csv) - 3:] eq '.csv' ? csv[1:strlen(csv) - 4] : csv).'.png'
if (!exists("results")) results = 'bench/results'
if (!exists("csv")) csv = results.'/memory-large.csv'
set terminal pngcairo size 900,450 font ",10" noenhanced
if (!exists("plotfile")) plotfile = 'img/bench-memory-large.png'
set output plotfile
set datafile separator ","
# The run's set-up for the title (mserve-bench memory --large prints the command with its own).
if (!exists("setup")) setup = "40 MB + 10 MB at once"
set title sprintf("RSS during rounds of large messages (%s, ZeroMQ then kdb+ door), then idle", setup)
set xlabel "seconds"
set ylabel "RSS (MB)"
set grid
set key top left
plot csv using 1:($3/1024) every ::1 with lines lw 2 title "broker", \
     csv using 1:($4/1024) every ::1 with lines title "servant 1", \
     csv using 1:($5/1024) every ::1 with lines title "servant 2"
