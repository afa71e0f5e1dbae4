// MServeServant: the library to write a servant: registered functions, worker threads.
import QData
