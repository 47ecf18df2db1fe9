"""Loops forever while being imported, so every test that imports it would take the time limit."""
while True:
    pass
