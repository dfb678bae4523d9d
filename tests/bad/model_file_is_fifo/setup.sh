mkfifo model.fifo
