"""crisiswatch's default sentiment and emotion models: small trained heads over MiniLM."""
