mkfifo earlier.fifo
