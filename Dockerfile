# Same install as the README: python + `make setup` (everything from PyPI, incl. MPICH and ViZDoom).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /worldmodels
COPY requirements.txt requirements-common.txt Makefile ./
RUN make setup
COPY . .
# default: the whole pipeline at the small scale; `docker run IMAGE make test` for the tests
CMD ["make", "pipeline"]
