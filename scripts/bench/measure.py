#!/usr/bin/env python3
"""Run one command; print its wall time and peak RSS as JSON: {"ms": ..., "rss_kib": ..., "rc": ...}.

    measure.py CMD [ARG...]

The time is the child's, from spawn to exit (this interpreter's own start is not in it); the
peak RSS is the child's maximum resident set (getrusage RUSAGE_CHILDREN, KiB on Linux).
"""
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
ms = (time.perf_counter() - start) * 1000.0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if done.returncode != 0:
    sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
print(json.dumps({"ms": ms, "rss_kib": rss, "rc": done.returncode}))
