// MServeQuery: parses q queries, derives routing strings, enforces secure invocation.
import QData
