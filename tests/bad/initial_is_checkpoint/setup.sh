echo x > earlier.h5
