"""The Lookout for Vision Edge Agent API (gRPC on a unix socket), serving packaged models.

edge_agent.proto is the contract (AWS's published package, service, messages and field numbers);
edge_agent_pb2*.py are generated from it (tests/edge/test_generated.py checks and regenerates them).
components.py finds the models, agent.py runs them with the cloud API's inference code, bitmaps.py
reads RGB888 pixels from a message or shared memory, service.py is the gRPC front door.
"""
