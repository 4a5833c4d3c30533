"""The live detection pipeline shared by the server and replay: report counts and evidence read per minute,
the pure detector and fusion, automatic incidents; `live` ticks on the clock, `replay` on a stream's time,
`scenario` makes seeded report streams."""
