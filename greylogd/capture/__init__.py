"""Packet capture: NFLOG (cffi binding to libnetfilter_log) and NFQUEUE event sources."""
