"""The local embedded stack: emulated AWS (moto in server mode) on loopback, for tests and the demo."""
