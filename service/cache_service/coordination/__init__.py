"""Doing each unit of work once: single-flight over claims, and wake-ups for waiters."""
