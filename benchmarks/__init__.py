"""Benchmarks of the word-count engine: scaling, faults, commit granularity, peers, memory.

Run ``python -m benchmarks EXPERIMENT [--scale small|full] [--out DIR]``; ``python -m
benchmarks list`` names the experiments. Each writes a CSV and a PNG and prints a table.
"""
