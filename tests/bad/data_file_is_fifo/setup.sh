mkfifo data.fifo
