"""podium.loadgen: an MLPerf LoadGen equivalent in pure Python (numpy and the standard library only)."""
