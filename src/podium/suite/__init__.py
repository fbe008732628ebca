"""podium.suite: the suites `podium run` runs; today the embedded tiny suite (`podium.suite.tiny`)."""
