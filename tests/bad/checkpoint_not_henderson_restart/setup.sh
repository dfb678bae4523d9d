echo 'something of the user' > out.checkpoint.h5 # a file of the user's where the checkpoint would go
