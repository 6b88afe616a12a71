"""One wsdiag per capture file on a Spark cluster, with RDD.pipe.

    spark-submit spark_wsdiag.py /shared/captures/*.pcap*

Each capture path becomes one element of an RDD with one partition per file; `pipe` hands the
partition's paths to `xargs -n 1 wsdiag --ndjson` on the executor, so every executor needs
wsdiag on its PATH (`cargo install --path .`) and the captures at the same path (a shared file
system, or copy them in first). wsdiag's NDJSON lines come back as the RDD's elements: the
connection lines, then the reconnect_loop and proxied lines of each file.
"""
import sys

from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("wsdiag").getOrCreate()
paths = sys.argv[1:]
lines = spark.sparkContext.parallelize(paths, numSlices=max(1, len(paths))).pipe(
    "xargs -n 1 wsdiag --ndjson --sensor spark"
)
# The first key of every line is its type.
conns = spark.read.json(lines.filter(lambda l: l.startswith('{"type":"connection"')))
conns.groupBy("server", "verdict.kind").count().orderBy("server", "kind").show(100, truncate=False)
