// MServeBench: the benchmark harness.
print("mserve-bench")
