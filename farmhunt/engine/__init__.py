"""Detection: settings, the engine seam and its engines, the shared small-table stages, results."""
