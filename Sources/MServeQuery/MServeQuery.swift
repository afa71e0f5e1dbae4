// MServeQuery: parses q queries, derives routing strings, enforces secure invocation.
//
// The pieces:
// - `QueryParser` turns a query (q text, or a q value: a string, a symbol, or a general list
//   parse form) into a `ParsedQuery`: a function name and its literal arguments as q values.
//   Only function application with literal arguments can be parsed; anything else is refused.
// - `RoutingSpec` derives the `RoutingString` a dispatch algorithm sees (`MSERVE_ROUTING`).
// - `SecureInvocation` and `FunctionAllowlist` double-check a parsed query before it is run.
import QData
