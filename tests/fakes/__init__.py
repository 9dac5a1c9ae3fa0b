"""Local fakes of the platforms: their APIs (servers we call) and their pushes (clients calling us)."""
