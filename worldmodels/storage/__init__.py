"""Storage: episode files (`episodes`) and atomic writes, checked reads and locks (`fileio`)."""
