#!/bin/sh
# netns_agent.sh: mpirun's launcher for t_mpi.sh's second "host" (--mca plm_rsh_agent): where ssh
# would log in to HOST and run the command there, this runs it in the network namespace named by
# $GPTOSS_NETNS with a host name of its own ($GPTOSS_NETNS_HOST, a new UTS namespace), so MPI and
# gptoss see a second machine; the HOST argument is ignored (both "hosts" are this machine, joined
# only by a veth pair).
shift # the host
exec ip netns exec "${GPTOSS_NETNS:?}" unshare --uts /bin/sh -c 'hostname "$1" && shift && exec /bin/sh -c "$*"' \
    sh "${GPTOSS_NETNS_HOST:-gptoss-second-host}" "$*"
