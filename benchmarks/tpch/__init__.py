"""TPC-H in the unistack API: data generation, queries, official SQL, answer checks and the harness."""
