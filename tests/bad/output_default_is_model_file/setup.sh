cp m.model m.h5 && rm m.model # a model file named .h5 (not committed as such: .gitignore has *.h5)
