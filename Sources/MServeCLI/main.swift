// MServeCLI: the mserve command.
print("mserve")
