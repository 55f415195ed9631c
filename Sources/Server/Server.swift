// The HTTP API lands here (issue 6).
