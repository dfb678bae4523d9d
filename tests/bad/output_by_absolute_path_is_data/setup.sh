sed -i "s|^output OUT|output $PWD/data.txt|" model.txt
