"""Observation, attached from outside the model: captures, traces, show commands."""
from emunet.observe.capture import Capture, CaptureRecord
from emunet.observe.pcapng import PcapngWriter, write_classic_pcap

__all__ = ["Capture", "CaptureRecord", "PcapngWriter", "write_classic_pcap"]
