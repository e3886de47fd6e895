"""The crisiswatch demo: a generated multilingual scenario, local receivers and a live view."""
