echo 'my notes, not a solutions file' > out.h5
