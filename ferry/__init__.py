"""Ferry: connector runtime — sync sources into indices, replicate indices, survive machine loss."""
