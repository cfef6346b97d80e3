"""The upload portal (报送门户): city statisticians log in, check and submit their forms, follow their months.

`energystat portal` serves it (FastAPI, server-rendered Chinese pages, no JavaScript build). Modules, along the
road of a request: `settings` (environment), `accounts` (users, argon2id, sessions, lock-out), `uploads`
(sniff, verdict, submit into the landing tree), `airflow_trigger`, `status` (month grid, province matrix),
`app` (routes, headers, errors).
"""
