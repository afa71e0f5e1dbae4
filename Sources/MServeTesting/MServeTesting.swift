// MServeTesting: helpers to test servants and clients built with MServe.
import QData
