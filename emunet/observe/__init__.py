"""Observation, attached from outside the model: captures, traces, show commands."""
from emunet.observe.capture import Capture, CaptureRecord
from emunet.observe.pcapng import PcapngWriter, write_classic_pcap
from emunet.observe.trace import Step, Trace, TraceRecord, describe

__all__ = ["Capture", "CaptureRecord", "PcapngWriter", "write_classic_pcap", "Trace", "TraceRecord",
           "Step", "describe"]
