mkfifo ped.fifo
