"""The six stages' logic, each importable and each with `cli()`, the command line of its numbered
script: data (01), vae (02), series (03), rnn (04), controller (05), report (06). Nothing is
imported here, so that importing one stage does not load another's dependencies (TensorFlow)."""
