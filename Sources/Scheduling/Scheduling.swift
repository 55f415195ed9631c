// The scheduler lands here (issue 5).
