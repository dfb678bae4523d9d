ln -s pedigree.txt link.h5
