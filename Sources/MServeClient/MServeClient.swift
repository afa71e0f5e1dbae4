// MServeClient: an async/await client that sends (id; query) and awaits (id; result; info).
import QData
