#!/bin/sh
# netns_agent.sh: mpirun's launcher for t_mpi.sh's second "host" (--mca plm_rsh_agent): where ssh
# would log in to HOST and run the command, this runs it in the network namespace named by
# $GPTOSS_NETNS (the host name is ignored: both "hosts" are this machine, joined only by a veth pair).
shift # the host
exec ip netns exec "${GPTOSS_NETNS:?}" /bin/sh -c "$*"
