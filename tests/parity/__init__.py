"""Host parity: the standalone host against solo-learn, live and through a recorded reference."""
