# pmipv6-lab/builder:latest: what images/Dockerfile copies into the lab
# images, compiled and built here so that nothing is compiled on the host:
#
#   /install/       NetfilterQueue (compiled from its sdist against Debian's
#                   Python with Debian's cython3: the sdist's pre-generated
#                   _impl.c predates Python 3.11), pmip6d (built from source
#                   with Debian's setuptools), pyroute2 (the host's wheel),
#                   the container entrypoint
#   /install-node/  pmip6d-service and /etc/pmip6d, for the node image
#
# Nothing is fetched from PyPI in here (pip inside a container cannot reach
# it on every machine): the NetfilterQueue sdist and the pyroute2 wheel come
# in wheelhouse/, pmip6d's source in pmip6d/. Layers are ordered so that a
# change to pmip6d does not recompile NetfilterQueue. The tools stage needs
# nothing from the host: `scripts/build-images --prepare` builds it early.
FROM debian:bookworm-slim AS tools
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gcc libc6-dev python3-dev python3-pip python3-setuptools python3-wheel \
        cython3 libnetfilter-queue-dev \
 && rm -rf /var/lib/apt/lists/*

FROM tools
COPY wheelhouse/ /wheelhouse/
RUN mkdir /nfq && tar -C /nfq --strip-components=1 -xzf /wheelhouse/NetfilterQueue-*.tar.gz \
 && rm /nfq/netfilterqueue/_impl.c \
 && pip3 wheel -q --no-index --no-build-isolation --no-deps -w /built /nfq
COPY pmip6d/ /pmip6d/
COPY entrypoint.sh pmip6d-service /scripts/
RUN pip3 wheel -q --no-index --no-build-isolation --no-deps -w /built /pmip6d \
 && pip3 install -q --break-system-packages --no-index --no-deps --no-compile --root /install \
        /built/*.whl /wheelhouse/pyroute2-*.whl \
 && install -D -m 755 /scripts/entrypoint.sh /install/usr/local/bin/pmip6-entrypoint \
 && install -D -m 755 /scripts/pmip6d-service /install-node/usr/local/bin/pmip6d-service \
 && mkdir -p /install-node/etc/pmip6d
